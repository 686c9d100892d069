// The page's microphone tap, on the audio rendering thread: mixes its input to mono, converts it
// to 16-bit little-endian PCM at the AudioContext's own rate (no resampling here: the server
// resamples) and posts one ArrayBuffer per ~100 ms frame to the page (transferred, not copied).
"use strict";

const FRAME_S = 0.1;

class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    // `sampleRate` is the AudioWorkletGlobalScope's: the context's real rate.
    this.frameSamples = Math.round(sampleRate * FRAME_S);
    this.startFrame();
  }

  startFrame() {
    this.buffer = new ArrayBuffer(this.frameSamples * 2);
    this.view = new DataView(this.buffer);
    this.filled = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels.length === 0) return true; // no input connected (yet): nothing to send
    const length = channels[0].length;
    for (let i = 0; i < length; i++) {
      let sum = 0;
      for (const channel of channels) sum += channel[i];
      const sample = Math.max(-1, Math.min(1, sum / channels.length));
      // scale as the server's from_pcm16 divides (32768); +1.0 clips to 32767
      const pcm = Math.max(-32768, Math.min(32767, Math.round(sample * 32768)));
      this.view.setInt16(2 * this.filled, pcm, true); // little-endian, whatever the CPU
      this.filled += 1;
      if (this.filled === this.frameSamples) {
        this.port.postMessage(this.buffer, [this.buffer]);
        this.startFrame();
      }
    }
    return true;
  }
}

registerProcessor("capture", CaptureProcessor);
