"""Primitives below the dataset, the data preparation and the command line: image files (decoding rules,
input collection), the MATLAB-exact bicubic, BasicSR's meta_info format, and the one atomic writer."""
