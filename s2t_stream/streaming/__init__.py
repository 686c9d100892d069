"""The streaming stage, sans I/O: audio chunks → running fbank and CMVN → voice activity and
endpoints → re-encoded segment windows → commit policy → typed partial and final events."""
