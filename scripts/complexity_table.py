"""Print the architecture page's parameter / MAC table for AIDN x2, x3, x4, fused and unfused.

Counted with mmengine.analysis (aidn_plugin.archs.complexity.count_complexity) for a 1280x720 output, i.e. an
input of 640x360 (x2), 426x240 (x3, output 1278x720) and 320x180 (x4).

    python scripts/complexity_table.py
"""
from aidn_plugin.archs.aidn_arch import AIDN
from aidn_plugin.archs.complexity import count_complexity

OUTPUT_SIZES = {2: (1280, 720), 3: (1278, 720), 4: (1280, 720)}


def main():
    print('| scale | form | parameters | MACs (output) | activations |')
    print('|---|---|---|---|---|')
    for scale, size in OUTPUT_SIZES.items():
        for form in ('fused', 'unfused'):
            net = AIDN(upscale=scale)
            if form == 'fused':
                net.fuse()
            stats = count_complexity(net, size, scale)
            print(f'| x{scale} | {form} | {stats["params"]:,} | {stats["macs"] / 1e9:.2f} G ({size[0]}x{size[1]}) '
                  f'| {stats["activations"] / 1e6:.1f} M |')


if __name__ == '__main__':
    main()
