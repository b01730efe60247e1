package dev.moeshard.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.moeshard.tensor.DType;
import dev.moeshard.tensor.NativeAccess;
import dev.moeshard.tensor.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Read-ahead is advice: it never changes what is read, and views of files closed meanwhile do no harm. */
class ReadAheadTest {
    @TempDir
    Path dir;

    private Path written(Tensor... tensors) {
        List<TensorSpec> specs = new ArrayList<>();
        for (int i = 0; i < tensors.length; i++) {
            specs.add(TensorSpec.of("t" + i, tensors[i]));
        }
        Path file = dir.resolve("in.safetensors");
        try (SafetensorsWriter out = SafetensorsWriter.open(file, SafetensorsWriter.plan(specs, Map.of()))) {
            for (int i = 0; i < tensors.length; i++) {
                out.write("t" + i, tensors[i]);
            }
            out.commit();
        }
        return file;
    }

    @Test
    void theKernelIsAskedWhereNativeAccessIsGranted() {
        assertEquals(NativeAccess.enabled(), ReadAhead.advisesTheKernel());
    }

    @Test
    void viewsAskedForAheadReadTheSameBytesAfterAndOtherTensorsAreIgnored() throws InterruptedException {
        Tensor a = TestTensors.random(DType.BF16, 1, 512, 300);
        Tensor b = TestTensors.random(DType.F32, 2, 700, 5);
        Path file = written(a, b);
        try (SafetensorsFile in = SafetensorsFile.open(file); ReadAhead readAhead = new ReadAhead()) {
            // strided and narrowed views too: their spans are asked for, joined where close
            readAhead.request(List.of(in.tensor("t1").transpose(0, 1), in.tensor("t0").narrow(0, 100, 50),
                    in.tensor("t0"), a));
            Thread.sleep(50);
            assertArrayEquals(TestTensors.bytes(a), TestTensors.bytes(in.tensor("t0")));
            assertArrayEquals(TestTensors.bytes(b), TestTensors.bytes(in.tensor("t1")));
        }
    }

    @Test
    void saysWhichBytesOfTheFileItAskedForAndAsksForNoneWhenSwitchedOff() {
        Path file = written(TestTensors.random(DType.BF16, 4, 64, 64), TestTensors.random(DType.F32, 5, 100));
        try (SafetensorsFile in = SafetensorsFile.open(file)) {
            long t1 = in.header().dataOffset() + in.entry("t1").begin();
            try (ReadAhead readAhead = new ReadAhead()) {
                assertEquals(List.of(new ReadAhead.Span(in.path(), t1, 400)), readAhead.request(List.of(in.tensor("t1"))));
            }
            System.setProperty(ReadAhead.PROPERTY, "false");
            try (ReadAhead off = new ReadAhead()) {
                assertEquals(List.of(), off.request(List.of(in.tensor("t0"), in.tensor("t1"))));
            } finally {
                System.clearProperty(ReadAhead.PROPERTY);
            }
        }
    }

    @Test
    void aFileClosedBeforeItsReadAheadRunsDoesNoHarm() throws InterruptedException {
        Path file = written(TestTensors.random(DType.U8, 3, 1 << 20));
        try (ReadAhead readAhead = new ReadAhead()) {
            List<Tensor> views;
            try (SafetensorsFile in = SafetensorsFile.open(file)) {
                views = List.of(in.tensor("t0"));
            }
            readAhead.request(views); // the mapping is gone: advice on it fails quietly
            Thread.sleep(50);
            try (SafetensorsFile again = SafetensorsFile.open(file)) {
                assertEquals(1 << 20, again.tensor("t0").byteSize());
            }
        }
    }
}
