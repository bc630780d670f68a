"""Primitives below the dataset, the data preparation and the command line: image files (decoding rules,
input collection, headers read without decoding, PNG and TIFF written row by row), the MATLAB-exact
bicubic, BasicSR's meta_info format, the one atomic writer, memory sizes, and the mixed-precision settings
(amp)."""
