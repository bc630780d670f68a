"""AIDN support for spandrel (chaiNNer, ComfyUI and other spandrel-based tools).

``import aidn_plugin.integrations.spandrel`` adds the architecture ``AIDN`` to ``spandrel.MAIN_REGISTRY``;
afterwards ``spandrel.ModelLoader().load_from_file(path)`` recognises AIDN checkpoints (BasicSR ``params_ema`` /
``params`` files, bare state dicts, ``.safetensors``, fused or not) and returns an
``ImageModelDescriptor`` with the scale and channels read from the tensors. spandrel 0.4 has no plugin
entry point, so a host application has to import this module once.

spandrel hands an architecture the state dict only, so the hyper-parameters that tensors cannot show
(``act_type``, ``edge_operator``, ``cca`` vs ``ca`` attention, ``img_range``, ``rgb_mean``) take AIDN's
defaults here; the published zoo weights use those defaults. ``aidn_plugin.zoo.checkpoints.load_model``
also reads the ``arch`` dict stored in our files and is the loader to use for weights trained with other
settings.
Needs the ``spandrel`` extra: ``pip install "aidn-plugin[spandrel]"``.
"""
from spandrel import MAIN_REGISTRY, Architecture, ArchSupport, ImageModelDescriptor
from spandrel.util import KeyCondition

from aidn_plugin.archs.aidn_arch import AIDN
from aidn_plugin.archs.aidn_spec import REQUIRED_KEYS, resolve_arch

ARCH_ID = 'AIDN'


class AIDNArch(Architecture[AIDN]):
    """spandrel description of AIDN: detection by key names, hyper-parameters from tensor shapes."""

    def __init__(self):
        super().__init__(id=ARCH_ID, name='AIDN', detect=KeyCondition.has_all(*REQUIRED_KEYS))

    def load(self, state_dict):
        args = resolve_arch(state_dict, source='AIDN state dict')
        model = AIDN(**args)
        tags = [f'{args["num_feat"]}nf', f'{args["num_block"]}nb', f'{args["num_out"]}out']
        if args['deploy']:
            tags.append('fused')
        return ImageModelDescriptor(
            model,
            state_dict,
            architecture=self,
            purpose='SR',
            tags=tags,
            supports_half=False,  # fp16 not validated (contrast attention takes a sqrt of a variance)
            supports_bfloat16=True,
            scale=args['upscale'],
            input_channels=args['num_in_ch'],
            output_channels=args['num_out_ch'],
        )


def register(registry=None):
    """Add AIDN to ``registry`` (default: spandrel's ``MAIN_REGISTRY``); a second call does nothing.
    Returns what ``registry.add`` returns."""
    registry = MAIN_REGISTRY if registry is None else registry
    return registry.add(ArchSupport.from_architecture(AIDNArch()), ignore_duplicates=True)


register()
