package dev.moeshard.convert;

import dev.moeshard.safetensors.ReadAhead;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/** Every read-ahead request a test's jobs made ({@link LayerReadAhead#asked}), heard from before it to after it. */
final class RecordedReadAheads implements BeforeEachCallback, AfterEachCallback {
    private final List<List<ReadAhead.Span>> requests = new CopyOnWriteArrayList<>();

    @Override
    public void beforeEach(ExtensionContext context) {
        requests.clear();
        LayerReadAhead.asked = requests::add;
    }

    @Override
    public void afterEach(ExtensionContext context) {
        LayerReadAhead.asked = spans -> {};
    }

    /** The requests in the order they were made, each the runs it asked for. */
    List<List<ReadAhead.Span>> requests() {
        return requests;
    }

    /** Every run asked for, in order. */
    List<ReadAhead.Span> spans() {
        return requests.stream().flatMap(List::stream).toList();
    }

    void clear() {
        requests.clear();
    }
}
