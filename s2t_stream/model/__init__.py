"""The model stage: audio samples → fbank features → the Speech2Text network → token search,
plus the checkpoint formats (Hugging Face directories, fairseq `.pt`, hub ids) and the tokenizer."""
