//! Control flow and the parametric operators: `block`, `loop`, `if`, `else`,
//! `end`, the branches, `return`, calls and tail calls, `unreachable`, `nop`, `drop`,
//! `select` (typed or not).

use super::{r, Frame, FuncTranslator, Kind};
use crate::ir::{Callee, S1, S2, S3};
use manda::isa::Instr;
use wasmparser::{Operator, ValType::V128};

impl FuncTranslator<'_> {
    /// Translates `op` if it is one of these; `Ok(false)` if not.
    pub(super) fn control(&mut self, op: &Operator<'_>) -> Result<bool, String> {
        use Operator as O;
        match *op {
            O::Nop => {}
            O::Unreachable => {
                self.ins(Instr::Trap { code: 0 });
                self.dead = true;
            }
            O::Block { blockty } | O::Loop { blockty } => {
                let (params, results) = self.block_types(blockty);
                self.materialize_all();
                let end = self.label();
                let is_loop = matches!(op, O::Loop { .. });
                let target = if is_loop { self.label() } else { end };
                if is_loop {
                    self.bind(target);
                }
                let height = self.stack.len() - params.len();
                let kind = if is_loop { Kind::Loop } else { Kind::Block };
                self.frames.push(Frame { kind, target, end, height, params, results });
            }
            O::If { blockty } => {
                let (params, results) = self.block_types(blockty);
                let else_label = self.label();
                // The condition first, then the rest joins in its slots.
                let cond = self.stack.len() - 1;
                for pos in 0..cond {
                    self.materialize(pos);
                }
                self.branch_on(false, else_label);
                let end = self.label();
                let height = self.stack.len() - params.len();
                let kind = Kind::If { else_label, has_else: false };
                self.frames.push(Frame { kind, target: end, end, height, params, results });
            }
            O::Else => self.else_(),
            O::End => self.end(),
            O::Br { relative_depth } => {
                self.branch_to(relative_depth);
                self.dead = true;
            }
            O::BrIf { relative_depth } => {
                if self.needs_moves_after_cond(relative_depth) {
                    let skip = self.label();
                    self.branch_on(false, skip);
                    self.branch_to(relative_depth);
                    self.bind(skip);
                } else {
                    let target = self.frames[self.frames.len() - 1 - relative_depth as usize].target;
                    self.branch_on(true, target);
                }
            }
            O::BrTable { ref targets } => {
                let depths: Vec<u32> = targets.targets().collect::<Result<_, _>>().map_err(|e| e.to_string())?;
                self.br_table(&depths, targets.default());
                self.dead = true;
            }
            O::Return => {
                self.ret();
                self.dead = true;
            }
            O::Call { function_index } => {
                let ty = self.module.func_type(function_index);
                let (params, results) = (ty.params().len(), ty.results().to_vec());
                self.callees.push(function_index);
                self.call(Callee::Direct(function_index), params, &results);
            }
            O::CallIndirect { type_index, table_index } => self.call_indirect(type_index, table_index, false),
            O::ReturnCall { function_index } => {
                let params = self.module.func_type(function_index).params().len();
                self.callees.push(function_index);
                self.tail_callees.push(function_index);
                self.tail_call(Callee::Direct(function_index), params);
            }
            O::ReturnCallIndirect { type_index, table_index } => self.call_indirect(type_index, table_index, true),
            O::Drop => {
                if self.pop().1 == V128 {
                    self.pop();
                }
            }
            O::Select | O::TypedSelect { .. } if self.stack[self.stack.len() - 2].1 == V128 => self.select_vector(),
            O::Select | O::TypedSelect { .. } => {
                let n = self.stack.len();
                let ty = self.stack[n - 2].1;
                let a = self.operand(n - 3, S1);
                let b = self.operand(n - 2, S2);
                let c = self.operand(n - 1, S3);
                self.stack.truncate(n - 3);
                let d = self.result(ty);
                self.ins(Instr::Csel { rd: r(d), rc: r(c), ra: r(a), rb: r(b) });
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
