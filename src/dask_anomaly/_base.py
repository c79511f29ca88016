"""Estimator conventions shared by the library's estimators.

``get_params``/``set_params``/``__repr__`` are derived from the ``__init__`` signature, as in
scikit-learn, so that ``sklearn.base.clone`` works without scikit-learn being a dependency.
"""

from __future__ import annotations

import inspect
from typing import Any

from .exceptions import NotFittedError


class BaseEstimator:
    """Mixin giving scikit-learn style parameter handling.

    Subclasses store every ``__init__`` argument unchanged under the same name.
    """

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """Return the names of the ``__init__`` parameters, sorted."""
        signature = inspect.signature(cls.__init__)
        return sorted(
            name
            for name, p in signature.parameters.items()
            if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the estimator's parameters.

        Parameters
        ----------
        deep : bool, default=True
            Accepted for scikit-learn compatibility; parameters are never estimators here.

        Returns
        -------
        dict
            Parameter names mapped to their values.
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> BaseEstimator:
        """Set parameters and return ``self``.

        Raises
        ------
        ValueError
            If a name is not a parameter of this estimator.
        """
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for {type(self).__name__}; "
                    f"valid parameters are {valid}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        signature = inspect.signature(type(self).__init__)
        changed = []
        for name in self._get_param_names():
            default = signature.parameters[name].default
            value = getattr(self, name)
            if value is not default and value != default:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"


def check_is_fitted(estimator: object, attribute: str = "module_") -> None:
    """Raise :class:`NotFittedError` unless ``estimator`` has the fitted ``attribute``.

    Raises
    ------
    NotFittedError
        With scikit-learn's wording, naming the estimator.
    """
    if getattr(estimator, attribute, None) is None:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        )
