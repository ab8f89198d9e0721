"""The project's own learned localizer: a tiny U-Net on the aligned crop (see docs/localizer.md).

Submodules: ``model`` (the torch network), ``infer`` (torch loading/inference, ONNX export),
``common`` (torch-free pre/post-processing), ``onnx_runtime`` (inference without torch).
Nothing is imported here so that the ONNX path never pays for importing torch.
"""
