"""The programs and engines the stages run: darknet, subprocesses, SLURM, the face detector, ONNX
Runtime's pre-processing.
"""
