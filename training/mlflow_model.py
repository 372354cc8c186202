"""The pyfunc wrapper that registers a SectorForecaster as one MLflow model."""

from __future__ import annotations

import pandas as pd
from mlflow.pyfunc import PythonModel

from training.forecaster import SectorForecaster

BUNDLE = "bundle"


class ForecasterModel(PythonModel):
    """Loads the bundle directory (boosters + forecaster.json) with one LightGBM thread."""

    def load_context(self, context):
        self.forecaster = SectorForecaster.load(context.artifacts[BUNDLE])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.forecaster.predict(model_input)
