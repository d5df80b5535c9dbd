//! Bad input gives typed errors, never NaN: separation, constant or collinear regressors, empty
//! categories, too few clusters, non-convergence reported.

use prefscope_stats::{
    logit, ordered_logit, Covariance, Design, FitOptions, OrderedOutcome, SeparationKind,
    StatsError,
};

fn x1(v: Vec<f64>) -> Design {
    Design::new(vec![("x", v)]).unwrap()
}

#[test]
fn complete_separation_by_a_continuous_regressor() {
    let x = x1(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let y = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
    let err = logit(&y, &x, &FitOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            StatsError::Separation {
                kind: SeparationKind::Complete,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn quasi_complete_separation_by_a_dummy_names_it() {
    let x = Design::new(vec![
        ("d", vec![1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        ("z", vec![0.3, -1.0, 0.5, 1.2, -0.7, 0.1, 2.0, -0.4]),
    ])
    .unwrap();
    let y = [1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
    let err = logit(&y, &x, &FitOptions::default()).unwrap_err();
    assert!(
        matches!(&err, StatsError::Separation { kind: SeparationKind::QuasiComplete, variable: Some(v), .. } if v == "d"),
        "{err}"
    );
    // Ordered: every d = 1 row in the top category.
    let yo = OrderedOutcome::from_values(&[2.0, 2.0, 2.0, 0.0, 1.0, 2.0, 1.0, 0.0]).unwrap();
    let err = ordered_logit(&yo, &x, &FitOptions::default()).unwrap_err();
    assert!(
        matches!(&err, StatsError::Separation { variable: Some(v), .. } if v == "d"),
        "{err}"
    );
}

#[test]
fn quasi_complete_separation_by_a_continuous_regressor() {
    // x < 3 gives y = 0, x > 3 gives y = 1; only at x = 3 do both outcomes occur.
    let x = x1(vec![1.0, 2.0, 3.0, 3.0, 1.5, 4.0, 5.0, 6.0, 2.5]);
    let y = [0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0];
    let err = logit(&y, &x, &FitOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            StatsError::Separation {
                kind: SeparationKind::QuasiComplete,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn constant_and_collinear_regressors() {
    let y = [0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
    let x = Design::new(vec![
        ("a", vec![1.0, 2.0, 3.0, 4.0, 5.0, 7.0]),
        ("k", vec![2.0; 6]),
    ])
    .unwrap();
    let err = logit(&y, &x, &FitOptions::default()).unwrap_err();
    assert!(
        matches!(&err, StatsError::ConstantRegressor { name, .. } if name == "k"),
        "{err}"
    );
    let yo = OrderedOutcome::from_values(&[0.0, 1.0, 2.0, 1.0, 2.0, 0.0]).unwrap();
    let err = ordered_logit(&yo, &x, &FitOptions::default()).unwrap_err();
    assert!(
        matches!(&err, StatsError::ConstantRegressor { name, .. } if name == "k"),
        "{err}"
    );
    let x = Design::new(vec![
        ("a", vec![1.0, 2.0, 3.0, 4.0, 5.0, 7.0]),
        ("b", vec![0.5, 0.1, 0.9, 0.3, 0.2, 0.4]),
        ("c", vec![2.0, 4.0, 6.0, 8.0, 10.0, 14.0]),
    ])
    .unwrap();
    let err = logit(&y, &x, &FitOptions::default()).unwrap_err();
    assert!(
        matches!(&err, StatsError::Collinear { name, .. } if name == "c"),
        "{err}"
    );
}

#[test]
fn empty_categories_and_outcomes() {
    let x = x1(vec![1.0, 2.0, 3.0, 4.0]);
    assert!(matches!(
        logit(&[1.0, 1.0, 1.0, 1.0], &x, &FitOptions::default()),
        Err(StatsError::EmptyCategory { .. })
    ));
    assert!(matches!(
        logit(&[1.0, 2.0, 1.0, 0.0], &x, &FitOptions::default()),
        Err(StatsError::NotBinary { row: 1, .. })
    ));
    let levels = ["low", "mid", "high"];
    let yo = OrderedOutcome::from_labels(&["low", "high", "low", "high"], &levels).unwrap();
    let err = ordered_logit(&yo, &x, &FitOptions::default()).unwrap_err();
    assert!(
        matches!(&err, StatsError::EmptyCategory { level } if level == "mid"),
        "{err}"
    );
    assert!(matches!(
        OrderedOutcome::from_labels(&["low", "huge"], &levels),
        Err(StatsError::UnknownLevel { row: 1, .. })
    ));
}

#[test]
fn too_few_clusters() {
    let x = x1(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let y = [0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
    let opts = FitOptions {
        covariance: Covariance::cluster(&["u"; 6]),
        ..Default::default()
    };
    assert!(matches!(
        logit(&y, &x, &opts),
        Err(StatsError::TooFewClusters { found: 1, .. })
    ));
    let opts = FitOptions {
        covariance: Covariance::cluster(&["u", "v"]),
        ..Default::default()
    };
    assert!(matches!(
        logit(&y, &x, &opts),
        Err(StatsError::LengthMismatch { .. })
    ));
}

#[test]
fn iteration_limit_is_reported_not_hidden() {
    let x = x1(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    let y = [0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0];
    let fit = logit(
        &y,
        &x,
        &FitOptions {
            max_iter: 1,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(!fit.converged());
    assert!(!fit.warnings.is_empty());
    let fit = logit(&y, &x, &FitOptions::default()).unwrap();
    assert!(fit.converged() && fit.convergence.iterations < 20);
    assert!(fit.params.iter().chain(&fit.bse).all(|v| v.is_finite()));
}
