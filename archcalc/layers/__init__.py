"""Layer types, one class each, every rule of a type in its class (see :mod:`.base` for the
protocol), grouped in family modules:

=================  ================================================================
:mod:`.conv`       conv (1D/2D/3D), dwconv, pwconv, deconv
:mod:`.pool`       maxpool, avgpool, global_avgpool, global_maxpool, adaptive_avgpool
:mod:`.lenet`      subsample (LeNet-5)
:mod:`.linear`     fc
:mod:`.reshape`    flatten, reshape, zeropad, crop, channel_shuffle, slice
:mod:`.resample`   upsample
:mod:`.norm`       bn, layernorm, lrn
:mod:`.merge`      add, multiply, concat
:mod:`.activation` the activations, identity, dropout
=================  ================================================================

The registry (:mod:`.registry`: YAML names, aliases, signatures) is derived from the classes.
NumPy is imported only inside the forwards (:mod:`.arrays`).
"""

from __future__ import annotations

from .activation import (
    ACTIVATION_OPS as ACTIVATION_OPS,
)
from .activation import (
    Activation as Activation,
)
from .activation import (
    Dropout as Dropout,
)
from .activation import (
    Identity as Identity,
)
from .base import (
    BIAS as BIAS,
)
from .base import (
    BUFFER_ROLES as BUFFER_ROLES,
)
from .base import (
    COEFFICIENT as COEFFICIENT,
)
from .base import (
    FROZEN_SCALE as FROZEN_SCALE,
)
from .base import (
    FROZEN_SHIFT as FROZEN_SHIFT,
)
from .base import (
    POST_PROTOCOL as POST_PROTOCOL,
)
from .base import (
    PROTOCOL as PROTOCOL,
)
from .base import (
    REQUIRED as REQUIRED,
)
from .base import (
    ROLES as ROLES,
)
from .base import (
    RUNNING_MEAN as RUNNING_MEAN,
)
from .base import (
    RUNNING_VAR as RUNNING_VAR,
)
from .base import (
    SCALE as SCALE,
)
from .base import (
    SHIFT as SHIFT,
)
from .base import (
    WEIGHT as WEIGHT,
)
from .base import (
    Arg as Arg,
)
from .base import (
    Layer as Layer,
)
from .base import (
    Ref as Ref,
)
from .base import (
    Saved as Saved,
)
from .base import (
    Shapes as Shapes,
)
from .base import (
    Tensor as Tensor,
)
from .base import (
    Weights as Weights,
)
from .base import (
    Window as Window,
)
from .base import (
    Work as Work,
)
from .base import (
    layer_class as layer_class,
)
from .conv import (
    Conv as Conv,
)
from .conv import (
    ConvTranspose as ConvTranspose,
)
from .conv import (
    DWConv as DWConv,
)
from .conv import (
    PWConv as PWConv,
)
from .lenet import (
    Subsample as Subsample,
)
from .linear import (
    Linear as Linear,
)
from .merge import (
    Add as Add,
)
from .merge import (
    Concat as Concat,
)
from .merge import (
    Multiply as Multiply,
)
from .norm import (
    LRN as LRN,
)
from .norm import (
    BatchNorm as BatchNorm,
)
from .norm import (
    LayerNorm as LayerNorm,
)
from .pool import (
    AdaptiveAvgPool as AdaptiveAvgPool,
)
from .pool import (
    AvgPool as AvgPool,
)
from .pool import (
    GlobalAvgPool as GlobalAvgPool,
)
from .pool import (
    GlobalMaxPool as GlobalMaxPool,
)
from .pool import (
    Pool as Pool,
)
from .registry import (
    ALIASES as ALIASES,
)
from .registry import (
    COMMON_KEYS as COMMON_KEYS,
)
from .registry import (
    FAMILIES as FAMILIES,
)
from .registry import (
    LAYER_CLASSES as LAYER_CLASSES,
)
from .registry import (
    LAYER_TYPES as LAYER_TYPES,
)
from .registry import (
    SIGNATURES as SIGNATURES,
)
from .registry import (
    Signature as Signature,
)
from .registry import (
    layer_args as layer_args,
)
from .registry import (
    make_layer as make_layer,
)
from .registry import (
    post_arg_names as post_arg_names,
)
from .resample import (
    Upsample as Upsample,
)
from .reshape import (
    ChannelShuffle as ChannelShuffle,
)
from .reshape import (
    Crop as Crop,
)
from .reshape import (
    Flatten as Flatten,
)
from .reshape import (
    Reshape as Reshape,
)
from .reshape import (
    Slice as Slice,
)
from .reshape import (
    ZeroPad as ZeroPad,
)
