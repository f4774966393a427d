"""One module per experiment: NAME, TITLE, GRIDS ({"full": ..., "tiny": ...}, the grid as data)
and run(ctx, exp_dir) -> (markdown, [png names]). EXPERIMENTS lists them in the driver's order.
"""

from . import fig1, fig2, fig2_federation, fig3, fig4, sgdm

EXPERIMENTS = {m.NAME: m for m in (fig1, fig4, fig2, sgdm, fig2_federation, fig3)}
