"""Physics: Devito acoustic modelling, OpenFWI-style velocity families, synthetic sets.

``forward`` models shot gathers for velocity maps, ``direct_wave`` the direct wave alone;
``generate_velocity`` draws seeded
maps of the OpenFWI families; :mod:`geogen.physics.synth` writes an unbalanced data
set (many maps, few pairs).  Devito loads only when modelling is first called.
"""

from __future__ import annotations

from geogen.physics.families import FAMILIES, generate_velocity
from geogen.physics.simulate import direct_wave, forward

__all__ = ["FAMILIES", "direct_wave", "forward", "generate_velocity"]
