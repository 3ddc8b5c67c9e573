// One linear product x[rows, k] @ w[n, k]^T timed in LibTorch from Java (median of 30 after 5 warm-up); bench/cpu/linear_micro.py is
// the same in PyTorch. Usage: java -cp "target/classes:target/lib/*" bench/cpu/LinearMicro.java THREADS ROWS N K
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.global.torch;
public class LinearMicro { public static void main(String[] a) {
  torch.set_num_threads(Integer.parseInt(a[0])); int rows = Integer.parseInt(a[1]); int n = Integer.parseInt(a[2]); int k = Integer.parseInt(a[3]);
  try (NoGradGuard g = new NoGradGuard()) {
  Tensor w = torch.randn(n, k); Tensor x = torch.randn(rows, k);
  double[] t = new double[30];
  for (int i = 0; i < 35; i++) { long t0 = System.nanoTime(); Tensor y = torch.linear(x, w); y.close(); if (i >= 5) t[i-5] = (System.nanoTime()-t0)/1e6; }
  java.util.Arrays.sort(t); System.out.printf("java rows %d [%d x %d]: median %.3f ms%n", rows, n, k, t[15]); } } }
