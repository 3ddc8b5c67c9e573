package org.tasft.train;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** The loss curve of a run as a PNG (XChart, headless). */
public final class LossPlot {
    private LossPlot() {
    }

    public static void write(List<StepMetrics> metrics, Path png) {
        System.setProperty("java.awt.headless", "true");
        // skipped steps (a NaN/Inf loss, --skip-nonfinite-steps) have no point on the curve
        metrics = metrics.stream().filter(m -> !m.skipped() && Double.isFinite(m.loss())).toList();
        if (metrics.isEmpty()) {
            return;
        }
        int n = metrics.size();
        double[] x = new double[n], loss = new double[n], sft = new double[n], term = new double[n];
        boolean anyTerm = false;
        for (int i = 0; i < n; i++) {
            StepMetrics m = metrics.get(i);
            x[i] = m.step();
            loss[i] = m.loss();
            sft[i] = m.sft();
            term[i] = m.term();
            anyTerm |= m.term() != 0;
        }
        XYChart chart = new XYChartBuilder().width(800).height(500).title("Training loss").xAxisTitle("step")
                .yAxisTitle("loss").build();
        chart.addSeries("loss", x, loss).setMarker(SeriesMarkers.NONE);
        chart.addSeries("sft", x, sft).setMarker(SeriesMarkers.NONE);
        if (anyTerm) {
            chart.addSeries("term", x, term).setMarker(SeriesMarkers.NONE);
        }
        savePng(chart, png);
    }

    /** Saves a chart as {@code png} (headless; XChart appends ".png" itself, so it is taken off the name first). */
    public static void savePng(XYChart chart, Path png) {
        System.setProperty("java.awt.headless", "true");
        String name = png.toString();
        String base = name.endsWith(".png") ? name.substring(0, name.length() - 4) : name;
        try {
            BitmapEncoder.saveBitmap(chart, base, BitmapEncoder.BitmapFormat.PNG);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + png, e);
        }
    }
}
