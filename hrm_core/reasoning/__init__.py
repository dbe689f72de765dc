"""How the model thought: convergence traces and residuals, ACT depth and halting, participation
ratio and PCA of the H/L states, and their docs section. Imports evaluation and everything below;
independent of live."""
