"""Media tools: what an agent may read of images, audio, video and documents (the
understanding tools, ``understand_*``), and the media readers they share (``sources``)."""
