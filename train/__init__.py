"""Training, data preparation and evaluation for Miaobi's generator (``python -m train --help``)."""
