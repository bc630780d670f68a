"""Running trained networks outside BasicSR: tiled upscaling of any image size, ONNX export."""
