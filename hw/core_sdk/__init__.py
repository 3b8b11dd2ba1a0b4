"""The C core team's kit: a generated protocol header, its generator, a layout probe and a reference C core.

See docs/core_sdk.md. `python -m hw.core_sdk.gen_header [--check]` regenerates (or checks) the header.
"""
