(module
  (import "env" "timestamp" (func $ts (result i64)))
  (import "env" "block" (func $block (result i64)))
  (memory 1)
  (global $count (mut i64) (i64.const 0))
  (func $loop (export "loop") (param $n i64) (result i64)
    (local $sum i64)
    (block $done
      (loop $l
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $sum (i64.add (local.get $sum) (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $l)))
    (local.get $sum))
  ;; coopvm's `sum` keeps on the stack what `loop` keeps in a memory slot; in Wasm both are
  ;; locals, so the program is the same.
  (export "sum" (func $loop))
  (func $fib (export "fib") (param $n i64) (result i64)
    (if (result i64) (i64.lt_s (local.get $n) (i64.const 2))
      (then (local.get $n))
      (else (i64.add (call $fib (i64.sub (local.get $n) (i64.const 1)))
                     (call $fib (i64.sub (local.get $n) (i64.const 2)))))))
  (func (export "arith") (param $n i64) (result i64)
    (local $acc i64)
    (local.set $acc (i64.const 7))
    (block $done
      (loop $l
        (br_if $done (i64.le_s (local.get $n) (i64.const 0)))
        (local.set $acc (i64.rem_s
          (i64.add (i64.mul (local.get $acc) (i64.const 31)) (local.get $n))
          (i64.const 1000003)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $l)))
    (local.get $acc))
  (func (export "host") (param $n i64) (result i64)
    (local $sum i64)
    (block $done
      (loop $l
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $sum (i64.add (local.get $sum) (call $ts)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $l)))
    (local.get $sum))
  (func (export "host2") (param $n i64) (result i64)
    (local $sum i64)
    (block $done
      (loop $l
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $sum (i64.add (i64.add (local.get $sum) (call $ts)) (call $block)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $l)))
    (local.get $sum))
  ;; Total Collatz steps of every start 1..=n.
  (func (export "collatz") (param $n i64) (result i64)
    (local $steps i64) (local $x i64)
    (block $done
      (loop $outer
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $x (local.get $n))
        (block $next
          (loop $inner
            (br_if $next (i64.le_s (local.get $x) (i64.const 1)))
            (if (i64.ne (i64.rem_s (local.get $x) (i64.const 2)) (i64.const 0))
              (then (local.set $x
                (i64.add (i64.mul (local.get $x) (i64.const 3)) (i64.const 1))))
              (else (local.set $x (i64.div_s (local.get $x) (i64.const 2)))))
            (local.set $steps (i64.add (local.get $steps) (i64.const 1)))
            (br $inner)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $outer)))
    (local.get $steps))
  ;; Primes up to n: one i64 flag per key k at address 8k, as coopvm keeps one value per key.
  (func (export "sieve") (param $n i64) (result i64)
    (local $i i64) (local $p i64) (local $m i64) (local $count i64) (local $pages i32)
    (local.set $pages (i32.wrap_i64 (i64.shr_u
      (i64.add (i64.shl (i64.add (local.get $n) (i64.const 1)) (i64.const 3))
               (i64.const 65535))
      (i64.const 16))))
    (if (i32.gt_u (local.get $pages) (memory.size))
      (then (drop (memory.grow (i32.sub (local.get $pages) (memory.size))))))
    (local.set $i (local.get $n))
    (block $done
      (loop $l
        (br_if $done (i64.lt_s (local.get $i) (i64.const 2)))
        (i64.store (i32.wrap_i64 (i64.shl (local.get $i) (i64.const 3))) (i64.const 1))
        (local.set $i (i64.sub (local.get $i) (i64.const 1)))
        (br $l)))
    (local.set $p (i64.const 2))
    (block $done
      (loop $outer
        (br_if $done (i64.gt_s (i64.mul (local.get $p) (local.get $p)) (local.get $n)))
        (if (i64.ne (i64.load (i32.wrap_i64 (i64.shl (local.get $p) (i64.const 3))))
                    (i64.const 0))
          (then
            (local.set $m (i64.mul (local.get $p) (local.get $p)))
            (block $marked
              (loop $inner
                (br_if $marked (i64.gt_s (local.get $m) (local.get $n)))
                (i64.store (i32.wrap_i64 (i64.shl (local.get $m) (i64.const 3)))
                           (i64.const 0))
                (local.set $m (i64.add (local.get $m) (local.get $p)))
                (br $inner)))))
        (local.set $p (i64.add (local.get $p) (i64.const 1)))
        (br $outer)))
    (local.set $i (local.get $n))
    (block $done
      (loop $l
        (br_if $done (i64.lt_s (local.get $i) (i64.const 2)))
        (local.set $count (i64.add (local.get $count)
          (i64.load (i32.wrap_i64 (i64.shl (local.get $i) (i64.const 3))))))
        (local.set $i (i64.sub (local.get $i) (i64.const 1)))
        (br $l)))
    (local.get $count))
  ;; The counter: count := count + 1, returned. Its argument is ignored.
  (func (export "tiny") (param i64) (result i64)
    (global.set $count (i64.add (global.get $count) (i64.const 1)))
    (global.get $count))
  ;; Sets the counter (to check `tiny` against its native twin); returns its argument.
  (func (export "tiny_set") (param $n i64) (result i64)
    (global.set $count (local.get $n))
    (local.get $n)))
