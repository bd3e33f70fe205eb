;; The `bench` module a Sightglass benchmark imports: `start` and `end` mark
;; the measured part; here they do nothing (`manda run --preload bench=bench.wasm`).
(module
  (func (export "start"))
  (func (export "end")))
