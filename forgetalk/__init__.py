"""forgetalk: offline face-forgery localization and explanation for forensic analysts."""

import os as _os

__version__ = "0.1.0"

# onnxruntime (the face detector's and the localizer's runtime) has telemetry on Linux too:
# a plain ``import onnxruntime`` (1.32, measured) writes a device id and an event cache under
# ~/.cache/Microsoft/DeveloperTools/.onnxruntime, to be uploaded. An offline evidence tool must
# neither reach out nor write outside its outputs, so it is switched off before anything here can
# import onnxruntime: the variable is read once, when onnxruntime starts, and then no uploader,
# event, device id or cache is created. Forced, not defaulted: no setting turns it back on.
_os.environ["ORT_DISABLE_TELEMETRY"] = "1"
# The same for the Hugging Face libraries (the ForgeryTalker engine's tokenizers and T5): offline
# and without telemetry, forced. The CLI used to set these only where unset, so an inherited
# HF_HUB_OFFLINE=0 left the hub free to reach out; every load also passes local_files_only, and
# `forgetalk weights fetch`, the one command that downloads, uses plain urllib, not the hub.
for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    _os.environ[_name] = "1"
del _name
