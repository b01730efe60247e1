package dev.moeshard.convert;

import dev.moeshard.safetensors.ReadAhead;
import dev.moeshard.tensor.Tensor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A job's items (tensors, layers) in the order it copies them, walked so that the disk reads one layer ahead of the
 * copies: as the walk enters a layer, the input of the next one is asked for ({@link ReadAhead}), and is read while
 * this one is copied and written. Consecutive items of one layer are a layer together; an item outside every layer
 * (embeddings, the final norm) is one of its own.
 *
 * <p>Never more than the next layer is asked for: input asked for long before it is copied would only crowd the page
 * cache, and on a machine short of memory the kernel would drop it again before the copy came to it.
 */
final class LayerReadAhead<T> implements Iterable<T>, AutoCloseable {
    /** {@code ...layers.N}, the path of the decoder layer a key lies in. */
    private static final Pattern LAYER = Pattern.compile("^(.*?layers\\.\\d+)\\.");

    /** Hears the runs of input each request asked for; tests listen to see that a job reads ahead at all. */
    static volatile Consumer<List<ReadAhead.Span>> asked = spans -> {};

    private final List<T> items;
    /** Where each layer's items start in {@link #items}, and {@code items.size()} last. */
    private final int[] layerStarts;
    private final Function<? super T, List<Tensor>> sourcesOf;
    private final ReadAhead readAhead = new ReadAhead();

    /**
     * @param layerOf the layer of an item, such as {@link #layerOf(String)} of its key
     * @param sourcesOf the views of the mapped input that copying an item reads; empty for one the job skips
     */
    LayerReadAhead(Collection<T> items, Function<? super T, String> layerOf,
                   Function<? super T, List<Tensor>> sourcesOf) {
        this.items = List.copyOf(items);
        this.sourcesOf = sourcesOf;
        List<Integer> starts = new ArrayList<>();
        String layer = null;
        for (int i = 0; i < this.items.size(); i++) {
            String next = layerOf.apply(this.items.get(i));
            if (i == 0 || !Objects.equals(next, layer)) {
                starts.add(i);
            }
            layer = next;
        }
        starts.add(this.items.size());
        this.layerStarts = starts.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The layer {@code key} lies in ({@code model.layers.3} of {@code model.layers.3.mlp...}), or {@code key} itself. */
    static String layerOf(String key) {
        Matcher m = LAYER.matcher(key);
        return m.find() ? m.group(1) : key;
    }

    /** The items in order; entering a layer asks for the next one (and, at the start, for the first as well). */
    @Override
    public Iterator<T> iterator() {
        return new Iterator<>() {
            private int next;
            private int layer = -1;

            @Override
            public boolean hasNext() {
                return next < items.size();
            }

            @Override
            public T next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                if (next == layerStarts[layer + 1]) {
                    layer++;
                    if (layer == 0) {
                        request(0);
                    }
                    request(layer + 1);
                }
                return items.get(next++);
            }
        };
    }

    /** Stops reading ahead; what was asked for and not yet started is dropped. */
    @Override
    public void close() {
        readAhead.close();
    }

    private void request(int layer) {
        if (layer + 1 >= layerStarts.length) {
            return; // past the last layer
        }
        List<Tensor> sources = new ArrayList<>();
        for (int i = layerStarts[layer]; i < layerStarts[layer + 1]; i++) {
            sources.addAll(sourcesOf.apply(items.get(i)));
        }
        List<ReadAhead.Span> spans = readAhead.request(sources);
        if (!spans.isEmpty()) {
            asked.accept(spans);
        }
    }
}
