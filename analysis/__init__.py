"""Numerical checks of the theory behind ganlab's losses (``ganlab verify``).

Every check calls the plugins' own hook implementations through a manager
selection; the closed forms they are compared with are declared by the
plugins (hook ``ganlab_claims``, objects from :mod:`ganlab.analysis.claims`)
and computed independently (scipy). See docs/verify.md.
"""
