//! A small seeded pseudo-random generator for the fuzzers (xorshift64*):
//! the same seed gives the same sequence on every architecture.

/// xorshift64* (Vigna): 64 bits of state, never zero.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (0 is taken as 1).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn bits(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.bits() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_sequence_and_zero_is_one() {
        let a: Vec<u64> = (0..4).scan(Rng::new(7), |r, _| Some(r.bits())).collect();
        let b: Vec<u64> = (0..4).scan(Rng::new(7), |r, _| Some(r.bits())).collect();
        assert_eq!(a, b);
        assert_eq!(Rng::new(0).bits(), Rng::new(1).bits());
        let mut r = Rng::new(3);
        assert!((0..100).all(|_| r.below(10) < 10));
    }
}
