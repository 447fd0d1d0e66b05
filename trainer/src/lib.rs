//! Training, evaluation and int8 export of the tinyvae VAE.

pub mod backend;
pub mod classifier;
pub mod data;
pub mod evaluation;
pub mod export;
pub mod loss;
pub mod model;
pub mod optim;
pub mod pictures;
pub mod training;
