"""The training session and its rules: protocol, presets, limits, errors, frames. No I/O."""
