"""Data-format adapters (SEG-Y, OpenFWI .npy, Zarr/netCDF), shipped as ``geogen.adapters``.

Each adapter registers itself in the ``geogen.adapters`` entry-point group, so a third
party can add a format by publishing a class that follows :class:`~geogen.adapters.base.Adapter`.
"""
