//! Which vector instructions the CPU kernels use. One binary runs everywhere: the hot loops are
//! compiled once per instruction set (`#[target_feature]` wrappers around `#[inline(always)]`
//! bodies) and the best one the CPU has is picked at run time. The results do not depend on
//! the choice: the kernels never fuse a multiply and an add (Rust does not contract floating
//! point), so every variant does the same f64 operations in the same order.

use std::sync::OnceLock;

use crate::error::Error;

/// An instruction set the CPU kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// What every x86-64 (or other) CPU has: SSE2, two f64 per vector.
    Baseline,
    /// AVX2 and FMA: four f64 per vector.
    Avx2,
    /// AVX-512 (F, VL, DQ, BW): eight f64 per vector, with mask registers.
    Avx512,
}

/// The environment variable that caps the instruction set (to measure a lower one on a CPU
/// that has more): `avx512`, `avx2` or `baseline`.
pub const ISA_VARIABLE: &str = "MMGAME_CPU_ISA";

impl Isa {
    /// The name `bench` and `summary.json` report, and `MMGAME_CPU_ISA` takes.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Baseline => "baseline",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// The best instruction set this CPU has.
    pub fn best() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512bw")
            {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }

    /// The instruction set the kernels use: the best the CPU has, capped by `MMGAME_CPU_ISA`
    /// when it is set. Decided once per process.
    pub fn selected() -> Result<Isa, Error> {
        static SELECTED: OnceLock<Result<Isa, String>> = OnceLock::new();
        SELECTED
            .get_or_init(|| {
                let best = Isa::best();
                match std::env::var(ISA_VARIABLE) {
                    Err(_) => Ok(best),
                    Ok(v) => Isa::parse(&v).map(|cap| cap.min(best)).ok_or_else(|| {
                        format!("{ISA_VARIABLE} = {v:?}: must be avx512, avx2 or baseline")
                    }),
                }
            })
            .clone()
            .map_err(Error::Input)
    }

    fn parse(s: &str) -> Option<Isa> {
        [Isa::Baseline, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .find(|isa| isa.name() == s.trim().to_ascii_lowercase())
    }
}

/// Defines `$name(isa, args…)` calling the `#[inline(always)]` function `$body` compiled for
/// `isa`: one `#[target_feature]` copy per instruction set, so the body's loops vectorise for
/// each.
macro_rules! dispatch {
    ($vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $body:path) => {
        $vis fn $name(isa: $crate::cpu::isa::Isa, $($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")]
                fn avx512($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                // Capped by what the CPU has, so that an `Isa` made by hand stays sound.
                match isa.min($crate::cpu::isa::Isa::best()) {
                    // SAFETY: the CPU has the instruction set (checked on the line above).
                    $crate::cpu::isa::Isa::Avx512 => return unsafe { avx512($($arg),*) },
                    $crate::cpu::isa::Isa::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::cpu::isa::Isa::Baseline => {}
                }
            }
            let _ = isa;
            $body($($arg),*)
        }
    };
}
pub(crate) use dispatch;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_by_width() {
        for isa in [Isa::Baseline, Isa::Avx2, Isa::Avx512] {
            assert_eq!(Isa::parse(isa.name()), Some(isa));
        }
        assert_eq!(Isa::parse(" AVX2 "), Some(Isa::Avx2));
        assert_eq!(Isa::parse("sse"), None);
        assert!(Isa::Baseline < Isa::Avx2 && Isa::Avx2 < Isa::Avx512);
        assert!(Isa::best() >= Isa::Baseline);
    }
}
