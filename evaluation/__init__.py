"""Numbers from features: CMC, mAP, mINP, distances and re-ranking. Imports no TensorFlow."""
