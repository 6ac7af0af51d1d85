"""Linear algebra of the blocked cross-product and its Cholesky factor.

Nothing here knows about formulas or models.
"""

from mixedmodels.linalg.blocks import SparseBlock
from mixedmodels.linalg.cholesky import BlockedCholesky, CrossProducts
from mixedmodels.linalg.crossprod import cross_products, response_blocks

__all__ = ["BlockedCholesky", "CrossProducts", "SparseBlock", "cross_products", "response_blocks"]
