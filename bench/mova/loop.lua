-- Lua equivalent of bench/mova/loop.masm: 5e8 passes of add-one-and-jump-back
-- (FORLOOP + ADDI: 2 Lua VM instructions a pass, like ADD + GOTO).
local x = 0
for _ = 1, 500000000 do x = x + 1 end
print(x)
