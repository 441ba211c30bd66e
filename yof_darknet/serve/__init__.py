"""``yof-darknet serve``: the exported model in the browser (ONNX Runtime Web), on the user's
webcam or a dropped image or video, served from this machine (``run.start``)."""
