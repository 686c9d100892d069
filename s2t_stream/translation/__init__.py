"""The cascade's last stage: finals' text in, the same finals with their text machine-translated
(`Final.translation`) out, so that any ASR model translates (translator.py: the `Translator`
protocol and the wrappers the transports use; apertium.py: Apertium, Debian's rule-based MT)."""
