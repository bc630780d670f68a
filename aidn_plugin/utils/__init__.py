"""Primitives below the dataset, the data preparation and the command line: image files (decoding rules,
input collection), the MATLAB-exact bicubic, BasicSR's meta_info format, the one atomic writer, and the
mixed-precision settings (amp)."""
