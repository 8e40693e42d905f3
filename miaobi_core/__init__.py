"""Shared library of Miaobi: palette, drawing codec, generator, checkpoints, inference.

Named ``miaobi_core`` (not ``miaobi``) because PaddleHub imports the installed
hub module folder as the package ``miaobi``.

One word per thing, in the code, the API and the docs:

- **label map** (``label_map``): an (H, W) array of class ids, the paper's semantic layout. What the
  generator paints from, what the pseudo-labeller writes for each photo ("labels v3" names that labelling).
- **one-hot map** (``onehot_map``): a label map as the generator reads it, (B, classes, H, W) floats.
- **drawing**: a label map in the palette's colours, as a person paints it or the API carries it (PNG).
- **doodle**: a drawing made by a program to stand in for a child's (tests, training, the quality report).
- **canvas**: only the page's HTML canvas.
- **picture**: what the generator paints; **photo**: a real photograph.
"""
