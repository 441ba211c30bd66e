"""``yof-darknet evaluate-video``: frame-level ABAW metrics of a trained model on Aff-Wild2 videos.

This package sits in the top layer beside pipeline.py because it runs three stages: the Aff-Wild2
converter's face finding (datasets: RetinaFace + ``assign_faces``, so each annotated person gets
the face the conversion gives it), the detector and the temporal models (infer), and the metrics
(evaluate).

For every decoded frame of a selected video and every annotated person in it (``main``, or
``left``/``right``): the person's face is found as in the conversion, the detections are folded
into faces (``merge_faces``) and the one overlapping the person's face most (IoU >= ``match_iou``,
one detection per person) gives the frame's class probabilities; no such detection (or no face
found) is "no face detected". Each person is one track; the temporal models relabel the frames
of the track that have a detection, and the frames whose label is one of the 7 expressions (not
-1, not Other) are scored.

Modules: ``options`` (the options), ``select`` (which videos are scored and tuned on), ``tracks``
(one track per annotated person, and its cache), ``run`` (tuning, metrics, the report).
"""
