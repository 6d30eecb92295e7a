// A small seeded PRNG (mulberry32), with no dependencies so that scripts outside the tests
// (scripts/bench.d) can use it too.

/* Returns a function giving floats in [0, 1), the same sequence for the same seed. */
export function prng(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}
