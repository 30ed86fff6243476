"""Datasets (local paths only, never downloaded), eval bundles and corruptions."""
