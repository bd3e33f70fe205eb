-- spectral N: the Benchmarks Game spectral norm of the infinite matrix
-- A(i,j) = 1 / ((i+j)(i+j+1)/2 + i + 1), truncated to N x N, by 10 rounds of
-- the power method; 9 decimals (N = 1000 prints 1.274224148). Indices from 0
-- as in the C program; (i+j)(i+j+1) is even, so the halving is exact in
-- floats (LuaJIT) as in integers (Lua 5.4).
local N = tonumber(arg and arg[1]) or 1000
local function a(i, j)
  local ij = i + j
  return 1.0 / (ij * (ij + 1) / 2 + i + 1)
end
local function av(n, v, out)
  for i = 0, n - 1 do
    local s = 0.0
    for j = 0, n - 1 do s = s + a(i, j) * v[j] end
    out[i] = s
  end
end
local function atv(n, v, out)
  for i = 0, n - 1 do
    local s = 0.0
    for j = 0, n - 1 do s = s + a(j, i) * v[j] end
    out[i] = s
  end
end
local function atav(n, v, out, tmp) av(n, v, tmp); atv(n, tmp, out) end
local u, v, tmp = {}, {}, {}
for i = 0, N - 1 do u[i] = 1.0 end
for _ = 1, 10 do atav(N, u, v, tmp); atav(N, v, u, tmp) end
local vbv, vv = 0.0, 0.0
for i = 0, N - 1 do vbv = vbv + u[i] * v[i]; vv = vv + v[i] * v[i] end
print(string.format("%.9f", math.sqrt(vbv / vv)))
