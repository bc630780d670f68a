"""The benchmarks and their shared helpers, run from the repository root:

* ``python -m scripts.bench.speed``: latency, MAC/s, memory and training step of AIDN against its peers;
* ``python -m scripts.bench.quality``: the equal-budget quality campaign (cells of network x seed);
* ``python -m scripts.bench.loader``: data-loader throughput against the training step;
* ``python -m scripts.bench.upscale``: whole ``aidn upscale`` runs at several image sizes;
* ``python -m scripts.bench.bicubic``: the bicubic baseline of a test set, and the check of ``aidn prepare lr``;
* ``python -m scripts.bench.plot``: the benchmarks page's figure from the JSON results;
* ``python -m scripts.bench.amp_demo``: bf16 AMP against fp32 on the CPU (the demo training, inference speed and Y-PSNR);
* ``python -m scripts.bench.runtimes``: every network at every CPU runtime and precision (PyTorch, ONNX Runtime, OpenVINO; fp32, bf16, int8);
* ``python -m scripts.bench.precision_quality``: the Y-PSNR change of bf16 and int8 against fp32 for the zoo's weights;
* ``python -m scripts.bench.campaign``: the finished weights campaign's tables and curves;
* ``python -m scripts.bench.zoo_eval``: ``basicsr test`` of every zoo weight file, the evidence of its figures.

``peers`` builds the networks compared (AIDN and SAFMN, SPAN, ECBSR, SRVGGNetCompact); ``report_io`` holds
the machine description, atomic result files and ratios; ``quality_entry`` is the ``basicsr`` entry the
quality campaign trains and tests through.
"""
