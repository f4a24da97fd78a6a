"""Media tools: what an agent may read of images, audio, video and documents (the
understanding tools, ``understand_*``), the media readers they share (``sources``), and
the generation tools (``generate.py``: images, speech, video)."""
