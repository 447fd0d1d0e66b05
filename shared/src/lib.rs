//! tinyvae's no_std core.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
