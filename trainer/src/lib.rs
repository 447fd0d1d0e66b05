//! Training, evaluation and int8 export of the tinyvae VAE.
