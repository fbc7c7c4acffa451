"""SpeechLLM: codec tokens into a frozen causal LM through a trained adapter, and a speech-only LM on the codes."""
