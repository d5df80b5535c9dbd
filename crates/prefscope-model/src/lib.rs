//! placeholder
pub fn smoke() -> Result<f64, tch::TchError> {
    let t = tch::Tensor::f_from_slice(&[1.0f32, 2.0, 3.0])?;
    let s = t.f_sum(tch::Kind::Float)?;
    s.f_double_value(&[])
}
#[cfg(test)]
mod tests {
    #[test]
    fn smoke() {
        assert_eq!(super::smoke().unwrap(), 6.0);
        println!("cuda available: {}", tch::Cuda::is_available());
    }
}
