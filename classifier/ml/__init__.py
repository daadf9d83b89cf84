"""Pure machine-learning code (Keras/TensorFlow, numpy): no Django imports, TensorFlow imported lazily."""
