package dev.moeshard.safetensors;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.moeshard.tensor.NativeAccess;
import dev.moeshard.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Asks for input bytes a job will read next, so that the disk reads them into the page cache while the job is busy
 * copying and writing what it read before: a conversion from a cold cache then costs about the longer of reading and
 * writing, not their sum. The caller names what it needs next (the next layer's tensors) and stays in charge of how
 * far ahead that is; nothing here holds the bytes.
 *
 * <p>Where native access is granted, a background thread passes each run of the files' mappings to
 * {@code madvise(MADV_WILLNEED)}, which starts the kernel's reads and returns; the pages are not mapped into the process,
 * so they cost it no resident memory. Elsewhere the thread reads the runs itself, through a small buffer it reuses,
 * which fills the page cache the same way at the cost of one copy. Best effort: a run that cannot be advised or read
 * is skipped, and the job's own reads report any real problem with the file.
 */
public final class ReadAhead implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ReadAhead.class);
    private static final int MADV_WILLNEED = 3;
    private static final long PAGE = 4096;
    /** Views closer than this in a file are asked for as one run. */
    private static final long JOIN_GAP = 1 << 20;
    private static final int READ_BYTES = 1 << 20;
    private static final Optional<MethodHandle> MADVISE = bind();
    /**
     * Set to {@code false} to ask for nothing ahead, to measure what read-ahead buys; read as each read-ahead is made.
     */
    public static final String PROPERTY = "moeshard.readAhead";

    /** Bytes of a file asked for: {@code length} of them from {@code offset}, a position in {@code file} (its path as opened). */
    public record Span(Path file, long offset, long length) {}

    private record Run(SafetensorsFile file, long address, long length) {
        Span span() {
            return new Span(file.path(), address - file.mappingAddress(), length);
        }
    }

    private final boolean enabled = Boolean.parseBoolean(System.getProperty(PROPERTY, "true"));
    /** The window asked for by property, or 0: each file's device's (ReadAheadWindow). */
    private final long askedWindow = ReadAheadWindow.asked();

    private final ExecutorService thread = Executors.newSingleThreadExecutor(task -> {
        Thread t = new Thread(task, "moeshard-read-ahead");
        t.setDaemon(true);
        return t;
    });
    private MemorySegment buffer;

    /**
     * Starts reading the bytes under {@code views} (views of open safetensors files; others are ignored) and says
     * which runs of which files it asked for: none when {@link #PROPERTY} switched read-ahead off.
     */
    public List<Span> request(List<Tensor> views) {
        List<Run> runs = enabled ? runsOf(views) : List.of();
        if (!runs.isEmpty()) {
            thread.execute(() -> runs.forEach(this::fetch));
        }
        return runs.stream().map(Run::span).toList();
    }

    /** Whether the kernel is asked directly ({@code madvise}) rather than the bytes read by a thread. */
    public static boolean advisesTheKernel() {
        return MADVISE.isPresent();
    }

    /** Stops; requests not started are dropped. */
    @Override
    public void close() {
        thread.shutdownNow();
    }

    private void fetch(Run run) {
        if (Thread.currentThread().isInterrupted()) {
            return;
        }
        try {
            if (MADVISE.isPresent()) {
                // a window per call: Linux reads no more of one call's range (ReadAheadWindow)
                long window = askedWindow > 0 ? askedWindow : ReadAheadWindow.of(run.file().path());
                long end = run.address() + run.length();
                for (long at = Math.max(run.address() / PAGE * PAGE, run.file().mappingAddress()); at < end
                        && !Thread.currentThread().isInterrupted(); at += window) {
                    int ignored = (int) MADVISE.get().invokeExact(MemorySegment.ofAddress(at),
                            Math.min(window, end - at), MADV_WILLNEED);
                }
                return;
            }
            if (buffer == null) {
                buffer = Arena.ofAuto().allocate(READ_BYTES, PAGE);
            }
            for (long done = 0; done < run.length() && !Thread.currentThread().isInterrupted(); done += READ_BYTES) {
                run.file().read(run.address() + done, buffer.asSlice(0, Math.min(READ_BYTES, run.length() - done)));
            }
        } catch (Throwable t) {
            LOG.debug("read-ahead of {} bytes of {} skipped: {}", run.length(), run.file().path(), t.toString());
        }
    }

    /** The byte spans of {@code views}, by file, joined where they are close. */
    private static List<Run> runsOf(List<Tensor> views) {
        List<Run> spans = new ArrayList<>();
        for (Tensor v : views) {
            if (v == null || v.byteSpan() == 0 || !v.storage().isMapped()) {
                continue;
            }
            SafetensorsFile.holding(v.storage()).ifPresent(f ->
                    spans.add(new Run(f, v.storage().address() + v.byteOffset(), v.byteSpan())));
        }
        spans.sort(Comparator.comparingLong(Run::address));
        List<Run> runs = new ArrayList<>();
        for (Run s : spans) {
            Run last = runs.isEmpty() ? null : runs.getLast();
            if (last != null && last.file() == s.file() && s.address() <= last.address() + last.length() + JOIN_GAP) {
                long end = Math.max(last.address() + last.length(), s.address() + s.length());
                runs.set(runs.size() - 1, new Run(last.file(), last.address(), end - last.address()));
            } else {
                runs.add(s);
            }
        }
        return runs;
    }

    private static Optional<MethodHandle> bind() {
        if (!NativeAccess.enabled()) {
            return Optional.empty(); // binding would make the JVM print a warning on the user's terminal
        }
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find("madvise").map(f -> linker.downcallHandle(f,
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT)));
        } catch (RuntimeException | LinkageError e) {
            return Optional.empty();
        }
    }
}
